"""The upload form: a file that must decode as audio within the site's limits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from audio.probe import ACCEPTED_LABEL, AudioError, AudioInfo
from jobs.selectors import configured_providers
from jobs.services import project_from_platform, project_upload
from library.models import Folder
from library.selectors import breadcrumbs, folder_tree, team_folders
from library.sources import check_upload
from providers.stemsets import StemSet

if TYPE_CHECKING:
    from accounts.models import Team, User
    from jobs.models import SeparationJob
    from providers.base import Provider

ACCEPT_ATTR = ".wav,.flac,.mp3,.m4a,.aac,.ogg,audio/*"


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Recording",
        required=False,  # a Suno-style project names a platform track instead
        allow_empty_file=True,  # so probing reports it, in the same words as other bad files
        help_text=f"{ACCEPTED_LABEL}, up to {settings.STEMWEB_MAX_UPLOAD_MB} MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT_ATTR}),
    )
    name = forms.CharField(
        label="Project name",
        max_length=255,
        required=False,
        help_text="Leave empty to use the file name.",
    )
    platform_task_id = forms.CharField(
        label="Platform taskId",
        max_length=255,
        required=False,
        help_text="Suno-style only: the music-generation task of the track.",
    )
    platform_audio_id = forms.CharField(
        label="Platform audioId",
        max_length=255,
        required=False,
        help_text="Suno-style only: which variation of that task.",
    )
    folder = forms.ModelChoiceField(
        label="Folder",
        queryset=Folder.objects.none(),
        to_field_name="public_id",
        required=False,
        empty_label="Top level",
        help_text="The team folder the project is filed in.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    provider = forms.ChoiceField(label="Provider", widget=forms.RadioSelect)
    stem_set = forms.ChoiceField(label="Stems", widget=forms.RadioSelect)

    field_order = [
        "provider",
        "stem_set",
        "file",
        "platform_task_id",
        "platform_audio_id",
        "name",
        "folder",
        "description",
    ]

    def __init__(self, *args: Any, team: Team | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.providers = configured_providers(team)
        provider_field = self.fields["provider"]
        stem_set_field = self.fields["stem_set"]
        assert isinstance(provider_field, forms.ChoiceField)  # both declared above
        assert isinstance(stem_set_field, forms.ChoiceField)
        provider_field.choices = [(p.key, p.label) for p in self.providers]
        provider_field.initial = self.providers[0].key if self.providers else None
        offered = {s for p in self.providers for s in p.stem_sets}
        stem_set_field.choices = [(s.value, s.label) for s in StemSet if s in offered]
        # The first provider's own first stem set, so the form as offered is always valid.
        first = self.providers[0].stem_sets if self.providers else ()
        stem_set_field.initial = (
            StemSet.FOREGROUND_BACKGROUND.value
            if StemSet.FOREGROUND_BACKGROUND in first or not first
            else StemSet(first[0]).value
        )
        folder_field = self.fields["folder"]
        assert isinstance(folder_field, forms.ModelChoiceField)
        if team is not None:
            folders = team_folders(team)
            folder_field.queryset = Folder.objects.filter(team=team)
            # Every folder by its path ("Album / Mixes"), in the tree's order.
            folder_field.choices = [("", "Top level")] + [
                (
                    node.folder.public_id,
                    " / ".join(f.name for f in breadcrumbs(node.folder, folders)),
                )
                for node in folder_tree(folders)
            ]
        self.audio_info: AudioInfo | None = None
        # Set by clean(); the form's ``provider`` field keeps its name for the form data.
        self.selected_provider: Provider | None = None

    def clean_file(self) -> UploadedFile | None:
        upload = self.cleaned_data["file"]
        if not upload:  # None, or False from a "clear" checkbox nobody was offered
            return None  # clean() decides whether this provider needs one
        limit_mb = settings.STEMWEB_MAX_UPLOAD_MB
        if upload.size > limit_mb * 1024 * 1024:
            raise forms.ValidationError(
                f"The file is too large ({upload.size / 1048576:.0f} MB); "
                f"the limit is {limit_mb} MB."
            )
        try:
            info = check_upload(Path(upload.temporary_file_path()))
        except AudioError as exc:
            raise forms.ValidationError(str(exc)) from None
        self.audio_info = info
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # BaseForm.clean returns cleaned_data
        provider = next((p for p in self.providers if p.key == cleaned.get("provider")), None)
        stem_set = cleaned.get("stem_set")
        if provider and stem_set and stem_set not in provider.stem_sets:
            self.add_error(
                "stem_set", f"{provider.label} does not offer {StemSet(stem_set).label}."
            )
        if provider and provider.needs_upload:
            if not cleaned.get("file") and "file" not in self.errors:
                self.add_error("file", f"Choose a recording to send to {provider.label}.")
        elif provider:
            for field in ("platform_task_id", "platform_audio_id"):
                if not cleaned.get(field, "").strip():
                    self.add_error(field, f"{provider.label} needs the track's taskId and audioId.")
        self.selected_provider = provider
        return cleaned

    def project_name(self) -> str:
        name = self.cleaned_data.get("name", "").strip()
        if name:
            return name
        if upload := self.cleaned_data.get("file"):
            return Path(upload.name).stem[:255] or "Untitled"
        return f"Track {self.cleaned_data['platform_task_id']}"[:255]

    def submit(self, *, team: Team, user: User) -> SeparationJob:
        """The project and its first job from a valid form, for the upload page and the API
        alike: a recording through ``project_upload``, a platform track through
        ``project_from_platform``.

        Raises:
            JobRequestError: the job cannot be created as asked; nothing is stored.
        """
        provider = self.selected_provider
        assert provider is not None  # a valid form's provider is one of self.providers
        data = self.cleaned_data
        if not provider.needs_upload:
            return project_from_platform(
                team=team,
                user=user,
                folder=data.get("folder"),
                name=self.project_name(),
                description=data["description"],
                task_id=data["platform_task_id"],
                audio_id=data["platform_audio_id"],
                provider_key=provider.key,
                stem_set=data["stem_set"],
            )
        # clean() requires a file when the provider needs one, and clean_file probed it
        assert self.audio_info is not None
        upload = data["file"]
        return project_upload(
            team=team,
            user=user,
            folder=data.get("folder"),
            upload_path=Path(upload.temporary_file_path()),
            original_filename=upload.name,
            info=self.audio_info,
            name=self.project_name(),
            description=data["description"],
            provider_key=provider.key,
            stem_set=data["stem_set"],
        )
